"""What a technician uses: the control socket (control, peers), the commands on it
(commands), pilectl (cli), and checking a receipt (receipts)."""
