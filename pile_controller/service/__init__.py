"""The daemon as a service on a pile: starting it (start), its timing (policy), the
devices the config names (hardware), carrying out their effects (actuator), reading the meters
(polling), systemd's notify and journal, the state folders."""
