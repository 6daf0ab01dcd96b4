from dpkit.cli import main

main()
