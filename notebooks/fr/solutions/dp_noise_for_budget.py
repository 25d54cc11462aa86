# Solution non traduite : copie de notebooks/solutions/dp_noise_for_budget.py, générée par docs/make_french_edition.py.
# epsilon after cfg.rounds rounds at C = 0.5 for each noise multiplier of the grid
noise_grid = (0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0)
epsilons = {z: F.compute_epsilon(z, 0.5, cfg.rounds, cfg.delta) for z in noise_grid}
for z, eps in epsilons.items():
    print(f"noise {z}: epsilon = {eps:.2f}")
answer = min(z for z, eps in epsilons.items() if eps <= 4.0)
check("dp_noise_for_budget", answer)
