"""The few of evdev's codes a keypad sends (the same numbers as linux/input-event-codes.h)."""

EV_KEY = 1
KEY_1, KEY_2, KEY_3, KEY_4, KEY_5, KEY_6, KEY_7, KEY_8, KEY_9, KEY_0 = range(2, 12)
KEY_BACKSPACE = 14
KEY_ENTER = 28
KEY_KP7, KEY_KP8, KEY_KP9 = 71, 72, 73
KEY_KP4, KEY_KP5, KEY_KP6 = 75, 76, 77
KEY_KP1, KEY_KP2, KEY_KP3, KEY_KP0 = 79, 80, 81, 82
KEY_KPENTER = 96
