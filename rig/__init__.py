"""The external test rig: a real mosquitto, the daemon as a subprocess, and a scripted backend.

It drives the pile only through the public contract (MQTT and the control socket), the way an
operator's test rig would. The tests, the demo and the benchmarks share it.
"""
