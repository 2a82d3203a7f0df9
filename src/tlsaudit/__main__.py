from tlsaudit.cli import main

main()
