"""The pile's hardware behind small interfaces, one backend per kind of hardware."""
