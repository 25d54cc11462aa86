# Corrigé type de la cellule « Expliquez » de 06_scaling_out, exercice federated_crossover (guide de
# l'enseignant, docs/instructors.md). Le résultat est prédit par le modèle de coût : il est le même sur 2 CPU et sur un seul.
explanation = """
Le serveur parle bien à tous les clients à la fois : la latence n'est donc payée qu'une fois par sens, soit
2 x 50 ms = 0.1 s par tour, quel que soit le nombre de clients K. Ce qui ne se superpose pas, ce sont les octets.
La mise à jour de 4 Mo de chaque client arrive, et le modèle de 4 Mo repart, par l'unique lien à 1 Gbit/s du
serveur : 2 x 4 Mo / 125 Mo/s = 0.064 s par client ; la communication vaut donc 0.1 s + 0.064 s x K. À partir de
30 clients par tour, elle dépasse les 2 s d'entraînement local (prédit), et à 1 000 clients elle représente 97 %
d'un tour. C'est l'effet d'incast : c'est le lien, et non la latence, qui limite un tour. Répartir le modèle sur 10
serveurs divise par 10 les octets par lien et repousse le point de bascule à 297 clients ; échantillonner moins de
clients, compresser les mises à jour et agréger par niveaux aident de la même façon.
"""
