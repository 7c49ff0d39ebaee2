from calsync.cli.main import main

main()
