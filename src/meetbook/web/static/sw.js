// meetbook's service worker: shows Web Push messages and opens the meeting on click.
"use strict";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

function readPayload(event) {
  if (!event.data) return {};
  try {
    return event.data.json();
  } catch (error) {
    return { body: event.data.text() };
  }
}

self.addEventListener("push", function (event) {
  const payload = readPayload(event);
  const meetingId = /^\d{1,19}$/.test(String(payload.meeting_id || "")) ? String(payload.meeting_id) : null;
  const options = {
    body: payload.body || "",
    icon: "/static/icon.svg",
    tag: meetingId ? "meeting-" + meetingId : "meetbook",
    renotify: true,
    data: { meetingId: meetingId, type: payload.type || null, bookingNumber: payload.booking_number || null },
  };
  event.waitUntil(self.registration.showNotification(payload.title || "meetbook", options));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  const data = event.notification.data || {};
  const path = data.meetingId ? "/meetings/" + data.meetingId : "/meetings?tab=pending-meeting";
  const target = new URL(path, self.location.origin).href;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
      for (const client of windows) {
        if (client.url === target && "focus" in client) return client.focus();
      }
      return self.clients.openWindow(target);
    })
  );
});
