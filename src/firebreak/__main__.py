from firebreak.cli import main

main()
