# Corrigé type de la cellule « Expliquez » de 05_collectives_compression_pipelines, exercice ring_exchange_time
# (guide de l'enseignant, docs/instructors.md). Une bonne explication parmi d'autres ; celle d'un étudiant doit
# citer les nombres de sa propre exécution.
explanation = """
Le modèle α–β, ajusté aux envois et aux échanges en anneau mesurés plus haut, prédit qu'un all-reduce en anneau
de 8 Mo par rang coûte 2(p - 1) messages de n/p octets : 2(p - 1) α plus 2 (p - 1)/p n β. Le retour affiché
indique l'écart entre la mesure et ce modèle (mesuré / modèle). Une bonne prédiction part du modèle et le corrige
d'après les rapports mesuré/prédit de l'anneau aux tailles voisines affichées plus haut ; elle se trompe alors à
peu près autant que le modèle.

Sur ce cluster, un « message » est une tâche Dask : son α est surtout ce que coûte à l'ordonnanceur et au worker
l'exécution d'une tâche (des millisecondes, et non les microsecondes d'un réseau), et chaque étape de l'anneau
attend l'ordonnanceur ; un moment de forte charge de la machine ralentit donc chaque étape, et l'échange mesuré est
alors plus lent que le modèle. Un seul α et un seul β sont en outre un compromis entre des messages et des anneaux
de toutes tailles : une taille donnée peut donc se trouver au-dessus ou au-dessous de la droite.

Avec 2 workers (2 CPU), les octets traversent le réseau local de la machine (loopback) entre deux processus. Avec
un seul worker (Binder), tous les rangs vivent dans le même processus : un message ne copie rien, β mesure donc
l'addition et la copie en mémoire, pas un réseau, et le modèle ajusté à la fois aux messages et aux anneaux ne
décrit bien ni les uns ni les autres.
"""
