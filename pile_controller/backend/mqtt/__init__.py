"""The MQTT contract (CONTRACT §3-§5, §9.1) as a backend link: `link.py` is its face."""
