"""Exchange candles and the strategy tester: import and validation (`parse`, `importing`),
the store (`store`), indicators, strategies, execution, metrics, sweeps and runs (`service`).

Nothing is imported here, so `filterbets --help` stays fast.
"""
