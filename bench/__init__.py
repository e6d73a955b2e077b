"""The pipeline benchmark: bench/pipeline.py and the modules it composes."""
