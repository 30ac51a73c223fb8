"""The demo: weeks of simulated participants for `make run` (`simulation`), the console
users the example study names (`seed`), and the demo messages read by the real model
(`conversations`). It uses the product's own vocabularies and scales. Only the CLI
imports it; nothing else under `bot/` does.
"""
