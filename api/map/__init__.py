"""The 一张图 page: folium builder, page config, text dictionary and static assets."""
