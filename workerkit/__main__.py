from workerkit.cli import main

main()
