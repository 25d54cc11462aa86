# Solution non traduite : copie de notebooks/solutions/ssp_sync_lr.py, générée par docs/make_french_edition.py.
# Bound 0: the server applies the 4 gradients g_1..g_4, all computed at the same w, one after another:
#   w - 0.05 * (g_1 + g_2 + g_3 + g_4)
# Synchronous SGD applies their average once:  w - lr * (g_1 + g_2 + g_3 + g_4) / 4
# Equal when lr / 4 = 0.05 (each gradient comes from 32 rows, so the average is the 128-row gradient).
sync_lr = 4 * 0.05
check("ssp_sync_lr", sync_lr)
