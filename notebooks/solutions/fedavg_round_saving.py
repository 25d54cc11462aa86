# A prediction is yours to make; one reasoning: an E=5 round does 5 x 30 = 150 local steps per
# client, but later steps add less and FedSGD at its own tuned rate takes big steps, so expect
# a saving of a few times, far below 150.
prediction = 5.0
predict("fedavg_round_saving", prediction)
