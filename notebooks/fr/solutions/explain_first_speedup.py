# Corrigé type de la cellule « Expliquez » de 00_start_here, exercice first_speedup (guide de l'enseignant, docs/instructors.md).
# Une bonne explication parmi d'autres ; celle d'un étudiant doit citer les nombres que sa propre exécution a affichés juste au-dessus.
explanation = """
Sur 2 CPU utilisables (2 workers) : le plafond est de 2x, et les 8 tâches d'environ 0.25 s se répartissent également en 4 vagues
de 2. sp.calibrate a mesuré ce que le cluster coûte par tâche (quelques millisecondes), soit environ 1-2 % d'une tâche de 0.25 s :
le modèle de coût prédit donc un peu moins de 2x, et l'exécution s'en est approchée. Une prédiction de 4x ou plus, tirée du nombre
de cœurs de l'hôte, ne pouvait pas se réaliser : seuls comptent les CPU que le cluster a le droit d'utiliser. Si l'exécution est
restée très en dessous de la prédiction, l'interprétation affichée le signale (« Suspect », « d'autres programmes ») : les CPU
étaient occupés à autre chose, ce n'est pas Dask qui était lent, et une nouvelle exécution sur une machine plus calme se rapproche de 2x.

Sur un seul CPU utilisable (Binder) : le plafond est de 1x. L'unique worker exécute les tâches l'une après l'autre, comme la boucle
simple, en y ajoutant le coût par tâche du cluster (plus élevé ici, car le notebook, l'ordonnanceur et le worker se partagent le
CPU) : l'accélération mesurée se situe donc juste en dessous de 1x, à peu près là où le modèle de coût l'attend. Les accélérations
affichées pour 2, 4 et 8 CPU sont prédites à partir de ce coût mesuré, et non mesurées. Une valeur supérieure à 1x sur un seul CPU
n'est pas du parallélisme : d'autres programmes ont ralenti la boucle simple.
"""
