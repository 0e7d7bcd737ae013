from django.urls import path

from notes import views

urlpatterns = [
    path("", views.note_list, name="notes"),
    path("<int:pk>/", views.note_detail, name="note"),
]
