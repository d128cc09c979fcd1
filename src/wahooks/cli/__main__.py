from wahooks.cli import main

main()
