# Corrigé type de la cellule « Expliquez » de 01_speedup, exercice tiny_task_speedup (guide de l'enseignant, docs/instructors.md).
# Une bonne explication parmi d'autres ; celle d'un étudiant doit citer les nombres que sa propre exécution a affichés juste au-dessus.
explanation = """
Le coût dominant est le surcoût par tâche de Dask : ordonnancer chaque tâche, l'envoyer à un worker et en rapatrier le résultat.
sp.calibrate l'a mesuré à quelques millisecondes par tâche, soit plus que la milliseconde de travail de chaque tâche, et il est
payé pour chaque tâche quel que soit le nombre de workers : le cluster passe plus de temps en surcoût que la boucle simple n'en
met pour tout le travail, et l'accélération mesurée est bien inférieure à 1x (le modèle de coût du tableau prédit à peu près la
même chose). Les tâches de la section 1 duraient des dizaines de millisecondes : le même surcoût n'y pesait que peu, et les
workers étaient rentables.

Sur 2 CPU, répartir le travail entre 2 workers n'économise que la moitié d'un travail total déjà faible, bien moins que ce
qu'ajoute le surcoût. Sur un seul CPU (Binder), il n'y a rien à gagner du tout : le cluster ne fait qu'ajouter son surcoût,
lui-même plus élevé, car le notebook, l'ordonnanceur et le worker se partagent le CPU.

Que changer : regrouper le travail en tâches Dask moins nombreuses et plus grosses (par exemple 50 des morceaux de 1 ms par
tâche, comme le fait run_batched dans l'exercice suivant), pour que le surcoût soit payé une fois par lot et non une fois par
morceau.
"""
