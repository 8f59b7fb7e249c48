from deltadiff.cli import main

main()
