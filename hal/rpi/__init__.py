"""The Raspberry Pi backend (CONTRACT 9.3): RPi.GPIO pins, a kernel PWM channel and an MCP300x
ADC for each connector's control pilot. Imported only when `hal.driver = "rpi"`."""
