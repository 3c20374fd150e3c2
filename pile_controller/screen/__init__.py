"""The pile's screen: what each state shows (screens), drawing it (render), and the
png, framebuffer and none drivers (display)."""
