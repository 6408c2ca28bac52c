"""tidewire's benchmarks (`tidewire bench …`): load generators, client fleets and reports.

A development tool, installed beside the product and never inside it: it may import any
tidewire package, and no tidewire package imports it (the CLI finds it by its entry point).
"""
