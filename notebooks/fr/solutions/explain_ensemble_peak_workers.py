# Corrigé type de la cellule « Expliquez » de 06_scaling_out, exercice ensemble_peak_workers (guide de
# l'enseignant, docs/instructors.md). Le résultat est prédit par le modèle de coût : il est le même sur 2 CPU et sur un seul.
explanation = """
L'accélération prédite culmine à 32 workers (environ 17.6x). Le coût qui croît avec le nombre de workers est le
transfert des données : chaque worker a besoin de sa propre copie des 10 Mo de données d'entraînement, soit
0.08 s par worker à 1 Gbit/s ; 32 workers passent donc 2.56 s à les recevoir. Passer de 32 à 64 workers économise
2 s de travail des membres mais ajoute encore 2.56 s de transfert : le travail devient plus lent. Au-delà de 256
workers, il n'y a même plus un membre par worker (granularité), et le surcoût par tâche mesuré sur ce cluster est
le même quel que soit le nombre de workers : il ne déplace donc pas le pic.

Le pic se déplace vers la droite avec moins de données par worker ou un moyen plus rapide de les y amener (un
réseau plus rapide, une diffusion en arbre, une lecture depuis un stockage partagé au lieu d'une copie depuis le
client), ainsi qu'avec des tâches plus nombreuses ou plus longues (un ensemble plus grand, des membres plus lents),
qui donnent aux workers supplémentaires un travail qui vaut la copie.
"""
