// Filled in by the benchmark work (bench/).
print("upres-bench")
