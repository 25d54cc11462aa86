# Solution non traduite : copie de notebooks/solutions/fedavg_round_saving.py, générée par docs/make_french_edition.py.
# A prediction is yours to make; one reasoning: an E=5 round does 5 x 30 = 150 local steps per
# client, but later steps add less (they start from a model that already fits the client's data)
# and FedSGD at its own tuned rate takes big steps, so expect a saving of several times, far below 150.
prediction = 7.0
predict("fedavg_round_saving", prediction)
