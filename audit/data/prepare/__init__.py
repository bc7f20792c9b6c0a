"""The `prepare` step: build the offline default models and the rt-polarity split once (build.py is the entry)."""
