from chronorag.cli import main

main()
