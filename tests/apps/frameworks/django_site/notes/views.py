"""The notes pages: every link comes from reverse() or {% url %}, none names the prefix the site mounts us at."""

from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from notes.models import Note


def note_list(request):
    if request.method == "POST":
        Note.objects.create(text=request.POST["text"])
        return redirect("notes")
    return render(request, "notes/list.html", {"notes": Note.objects.order_by("pk")})


def note_detail(request, pk):
    note = get_object_or_404(Note, pk=pk)
    return JsonResponse({"text": note.text, "self": reverse("note", args=[pk]), "list": reverse("notes"),
                         "script_name": request.META.get("SCRIPT_NAME"), "path_info": request.path_info,
                         "path": request.path, "secure": request.is_secure()})
