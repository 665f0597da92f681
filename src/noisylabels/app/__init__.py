"""The application layer: one run built from a checked configuration (:mod:`.build`), trained into its
run folder (:mod:`.run`) and summarised (:mod:`.summary`); the CLI and the benchmarks drive these."""
