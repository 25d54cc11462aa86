# Corrigé type de la cellule « Expliquez » de 03_federated_learning, exercice fedavg_round_saving (guide de l'enseignant,
# docs/instructors.md). Les tours sont comptés, pas chronométrés : ils ne dépendent donc pas des CPU, et les tailles complètes de
# la démo (2 CPU, par défaut) comme PLSIM_SMALL=1 (Binder) donnent les mêmes nombres de tours réglés ci-dessous (les grilles
# réduites sont plus étroites).
explanation = """
Chacun à son propre taux d'apprentissage réglé, FedSGD a eu besoin de 50 tours (lr 3) et FedAvg E=5 de 6 (lr 0.5) : 8.3x moins de
tours (et d'octets), alors qu'un tour avec E=5 fait 5 x 30 = 150 pas locaux par client. Les pas locaux ne se convertissent pas un
pour un en tours économisés : après les premiers, le modèle d'un client s'ajuste déjà à ses propres 300 échantillons, et les pas
suivants apportent moins ; de plus, chaque client repart à chaque tour du même modèle global, si bien que le progrès du tour est
la moyenne de mises à jour qui se recoupent en partie. FedSGD, une fois réglé, fait de grands pas (lr 3, contre 0.5 pour FedAvg) :
c'est une référence solide, et non FedSGD au petit taux de FedAvg. Le tableau le confirme : FedAvg E=20 (600 pas locaux) a
besoin des mêmes 6 tours que E=5, donc quatre fois plus de travail local n'économise rien de plus, et les deux taux réglés se
trouvent à l'intérieur de leur grille (un taux plus lent de chaque côté) : le rapport n'est donc pas un artefact de la grille. Sur
des clients IID, le travail local reste payant ; sur les tranches non IID de la section 3, la dérive des clients réduit
l'économie, voire l'inverse.
"""
