from lagwatch.cli import main

main()
