# Corrigé type de la cellule « Expliquez » de 01_speedup, exercice threads_speedup (guide de l'enseignant, docs/instructors.md).
# Une bonne explication parmi d'autres ; celle d'un étudiant doit citer les nombres que sa propre exécution a affichés juste au-dessus.
explanation = """
La tâche est en Python pur, et CPython ne laisse qu'un seul thread d'un processus exécuter du code Python à la fois (le verrou
global de l'interpréteur, ou GIL). Les deux threads du worker s'exécutent donc à tour de rôle, et l'accélération mesurée reste
proche de 1x. Chaque processus worker a son propre interpréteur et son propre verrou : c'est pourquoi plsim démarre un processus
à un seul thread par CPU.

Sur 2 CPU, la comparaison affichée plus haut le montre : les processus s'approchent davantage de 2x que les threads. Si les deux
séries d'exécutions se chevauchent (le notebook dit alors qu'il ne peut pas les départager), la machine était occupée, et une
nouvelle exécution sur une machine plus calme les sépare. Sur un seul CPU (Binder), ni les threads ni les processus ne peuvent
dépasser 1x, puisque tous se relaient sur l'unique CPU : cette exécution ne dit donc rien du GIL ; la leçon vaut à partir de 2 CPU.

Deux threads accélèrent bel et bien un travail qui libère le GIL : les opérations NumPy et BLAS sur de grands tableaux, le code
compilé de scikit-learn, et l'attente des entrées-sorties (lecture de fichiers, téléchargements), pendant laquelle un autre thread
peut s'exécuter.
"""
