from pipeline.cli import main

if __name__ == "__main__":  # spawned worker processes import this module too; they must not rerun the CLI
    raise SystemExit(main())
