# Corrigé type de la cellule « Expliquez » de 04_distributed_training, exercice dp_step_speedup (guide de
# l'enseignant, docs/instructors.md). Une bonne explication parmi d'autres ; celle d'un étudiant doit citer les
# nombres que sa propre exécution a affichés au-dessus.
explanation = """
L'accélération mesurée d'un pas est très inférieure à 1x : un pas en parallélisme de données a pris des dizaines
de millisecondes sur le cluster, un pas dans un seul processus une fraction de milliseconde. Pour ce petit MLP
(2 410 paramètres), tout le calcul du gradient et de la mise à jour tient dans cette fraction de milliseconde ; le
répartir sur 2 répliques pourrait donc en économiser au plus la moitié. En contrepartie, chaque pas en parallélisme
de données ajoute des tâches Dask à ordonnancer, des paramètres et des gradients à faire passer d'un processus à
l'autre (les octets comptés plus haut, à chaque pas) et l'attente de la réplique la plus lente ; ces coûts fixes
valent de nombreuses fois le calcul qu'ils répartissent (comparez les deux temps affichés).

Sur 2 CPU, les répliques tournent bien en même temps, mais les coûts ajoutés dominent toujours. Sur un seul CPU
(Binder), les 2 répliques passent en plus à tour de rôle : aucun pas ne pourrait être plus rapide qu'un seul
processus qui fait tout le travail, quel que soit le modèle. Dans les deux cas, on obtient la même trajectoire
qu'avec le SGD à grand lot (les paramètres coïncident aux arrondis près).

Le parallélisme de données devient rentable quand le calcul par pas (grands modèles, grands lots) écrase le coût
fixe de la synchronisation : la section suivante mesure à partir de quelle taille de modèle cela se produit.
"""
