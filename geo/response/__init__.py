"""Response circles (应急处置圈): the routable road network, reach, areas, dispatch, siting."""
