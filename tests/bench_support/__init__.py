"""Shared pieces of the media benchmarks (``bench/bench_device_roundtrip.py``,
``bench/bench_call_load.py``): an RTP probe process, pcap capture, pacing statistics, process
accounting and a baresip set-up. Benchmark support only: nothing here is a test."""
