"""The Raspberry Pi backend (CONTRACT 9.3): RPi.GPIO pins, a kernel PWM channel and an MCP300x
ADC for each connector's control pilot. Imported only when `hal.driver = "rpi"`."""

# What brings the modules this backend imports, for the line that says one is missing.
EXTRAS = "install pile-controller[rpi] on a Pi 1-4, pile-controller[rpi5] on a Pi 5"
