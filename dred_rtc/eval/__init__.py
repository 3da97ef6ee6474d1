"""Quality evaluation: corpus, metrics, statistics, sweeps, reports and plots (`dred-rtc eval`)."""
