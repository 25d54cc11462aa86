# Solution non traduite : copie de notebooks/solutions/bagging_by_hand.py, générée par docs/make_french_edition.py.
import numpy as np
from sklearn.tree import DecisionTreeClassifier

from plsim.exercises.ensembles import member_draws


def fit_member(X, y, rows, seed):
    """One member: a tree on its own bootstrap rows (runs on a worker)."""
    return DecisionTreeClassifier(random_state=seed).fit(X[rows], y[rows])


def bagging_by_hand(client, X, y, X_test, n_members, random_state):
    X_f, y_f = client.scatter([X, y], broadcast=True)  # the data goes to the workers once
    futures = [client.submit(fit_member, X_f, y_f, rows, seed, pure=False)
               for rows, seed in member_draws(n_members, len(y), random_state)]
    members = client.gather(futures)
    votes = np.stack([m.predict(X_test) for m in members])           # (members, test rows)
    labels, encoded = np.unique(votes, return_inverse=True)
    encoded = encoded.reshape(votes.shape)
    counts = np.stack([(encoded == k).sum(axis=0) for k in range(len(labels))])
    return labels[counts.argmax(axis=0)]                              # the most common label per row


check_code("bagging_by_hand", bagging_by_hand, client=client)
