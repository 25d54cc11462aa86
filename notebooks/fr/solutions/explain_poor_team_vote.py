# Corrigé type de la cellule « Expliquez » de 02_ensembles, exercice poor_team_vote (guide de l'enseignant, docs/instructors.md).
# Les exactitudes ne dépendent pas des CPU (même random_state, mêmes modèles sur n'importe quel cluster), seulement des tailles de
# la démo : les tailles complètes (2 CPU, par défaut) et PLSIM_SMALL=1 (Binder) donnent les deux séries de nombres ci-dessous.
explanation = """
Le vote dur n'a pas battu son meilleur membre, kNN : avec les tailles complètes, il obtient 0.751 contre 0.794 pour kNN (tailles
réduites de Binder : 0.667 contre 0.767), au-dessus des trois membres faibles mais bien en dessous de kNN. kNN devance de 11 à 15
points le membre suivant, et un simple vote majoritaire compte chacune des trois voix plus faibles autant que celle de kNN :
partout où kNN a raison mais où l'arbre, la régression logistique et le bayésien naïf s'accordent sur la même mauvaise étiquette,
ils le mettent en minorité. La comparaison appariée le montre : les lignes de test où seul kNN avait raison sont bien plus
nombreuses que celles où seul le vote avait raison (71 contre 32 sur 900 ; tailles réduites : 33 contre 6 sur 270). Leurs
erreurs ne sont que partiellement corrélées (r d'environ 0.4) : le vote reste donc au-dessus de la moyenne des membres faibles,
mais il s'en faut de beaucoup pour qu'il hisse l'équipe au-delà de kNN.

Pour que le vote soit payant, les membres doivent être de force comparable et se tromper différemment : remplacez les membres
faibles par d'autres, plus forts et différents (par exemple le vote souple sur kNN, SVM et MLP plus haut), pondérez les voix par
l'exactitude de chaque membre, ou utilisez tout simplement kNN seul.
"""
