/*
 * The fleet map on /ui/: country outlines (Natural Earth, vendored GeoJSON; no tiles) and
 * the sites in view, as points and clusters the server aggregates (edgeplane/web/maps.py)
 * for the view's zoom and bounds. Plain ES2017, no build step; Leaflet (window.L) is
 * loaded first. The page's markup:
 *
 *   <div id="fleet-map" data-points-url="/ui/map/points"
 *        data-geojson-url="/ui/static/vendor/naturalearth/countries-110m.geojson"
 *        data-site-url="/ui/sites/" [data-fit="auto|world|south,west,north,east"]></div>
 *   <p id="fleet-map-status"></p>   (optional: errors are written there)
 *
 * After each render #fleet-map has data-loaded="true", data-markers (points) and
 * data-clusters. Live phases come as the `site-phase` CustomEvent on document.body
 * (detail {name, phase}) or through window.edgeplaneMap.onSitePhase(name, phase);
 * window.edgeplaneMap.refresh() (or .reload()) refetches; .map() is the Leaflet map.
 * Colours are the stylesheet's: .land, .site-marker.phase-X, .cluster-marker.worst-X.
 */
(function () {
  'use strict';

  const POINT_SIZE = 14; // px: divIcons are anchored at their centre
  const CLUSTER_SIZE = 34;
  const FIT_MAX_ZOOM = 6;
  const REFETCH_DELAY_MS = 500;
  const PHASE_RE = /^[A-Za-z]+$/;

  let current = null; // the live map, if any

  function safePhase(phase) {
    return typeof phase === 'string' && PHASE_RE.test(phase) ? phase : 'Unknown';
  }

  function isNumber(x) {
    return typeof x === 'number' && isFinite(x);
  }

  // A longitude moved by whole turns to the copy of the world nearest `centre`.
  function nearLon(lon, centre) {
    return lon + 360 * Math.round((centre - lon) / 360);
  }

  // "south,west,north,east" of a view, longitudes wrapped into -180..180 (west > east
  // when the view crosses the antimeridian), as edgeplane.web.maps.parse_bounds reads it.
  function bboxParam(bounds) {
    const clampLat = (v) => Math.max(-90, Math.min(90, v));
    const south = clampLat(bounds.getSouth());
    const north = clampLat(bounds.getNorth());
    let west = bounds.getWest();
    let east = bounds.getEast();
    const width = east - west;
    if (width >= 360) {
      west = -180;
      east = 180;
    } else {
      west = ((((west + 180) % 360) + 360) % 360) - 180;
      east = west + width;
      if (east > 180) east -= 360;
    }
    return [south, west, north, east].map((v) => String(Math.round(v * 1e5) / 1e5)).join(',');
  }

  function parseFit(text) {
    const parts = String(text).split(',').map(Number);
    if (parts.length !== 4 || !parts.every(isNumber)) return null;
    return L.latLngBounds([parts[0], parts[1]], [parts[2], parts[3]]);
  }

  function createMap(el) {
    const pointsUrl = el.dataset.pointsUrl;
    const geojsonUrl = el.dataset.geojsonUrl;
    const siteUrl = el.dataset.siteUrl || '';
    const fitMode = el.dataset.fit || 'auto';
    const statusEl = document.getElementById('fleet-map-status');
    const messages = { land: '', points: '' };

    const map = L.map(el, { worldCopyJump: true, minZoom: 0, maxZoom: 18 });
    map.attributionControl.addAttribution('Natural Earth');
    const pointLayer = L.layerGroup().addTo(map);
    const clusterLayer = L.layerGroup().addTo(map);
    const points = new Map(); // site name -> {marker, name, phase}
    let clusters = new Map(); // what a cluster shows (its key) -> marker
    let controller = null;
    let resizer = null;
    let refetchTimer = null;
    let fitted = fitMode !== 'auto';
    let destroyed = false;

    function setStatus(key, text) {
      messages[key] = text;
      const shown = [messages.land, messages.points].filter(Boolean).join(' ');
      if (statusEl) statusEl.textContent = shown;
      if (messages.points) el.dataset.error = 'true';
      else delete el.dataset.error;
    }

    function activate(marker, action) {
      marker.on('click', action);
      marker.on('add', () => {
        const icon = marker.getElement();
        if (!icon) return;
        L.DomEvent.on(icon, 'keydown', (ev) => {
          if (ev.key === 'Enter' || ev.key === ' ' || ev.key === 'Spacebar') {
            L.DomEvent.preventDefault(ev);
            L.DomEvent.stopPropagation(ev);
            action();
          }
        });
      });
    }

    // The attributes the page's tests and assistive technology read, on the icon element.
    function decorateSite(entry) {
      const icon = entry.marker.getElement();
      if (!icon) return;
      const label = 'site ' + entry.name + ', ' + entry.phase;
      icon.setAttribute('data-site', entry.name);
      icon.setAttribute('data-phase', entry.phase);
      icon.setAttribute('aria-label', label);
      entry.marker.options.alt = label;
    }

    function siteIcon(phase) {
      return L.divIcon({
        className: 'site-marker phase-' + phase,
        html: '',
        iconSize: [POINT_SIZE, POINT_SIZE],
      });
    }

    function addSite(name, phase, latlng) {
      const label = 'site ' + name + ', ' + phase;
      const marker = L.marker(latlng, {
        icon: siteIcon(phase),
        title: name,
        alt: label,
        keyboard: true,
        riseOnHover: true,
      });
      const entry = { marker: marker, name: name, phase: phase };
      activate(marker, () => {
        window.location.href = siteUrl + encodeURIComponent(name);
      });
      marker.on('add', () => decorateSite(entry));
      points.set(name, entry);
      pointLayer.addLayer(marker);
    }

    function setSitePhase(entry, phase) {
      if (entry.phase === phase) return;
      entry.phase = phase;
      entry.marker.setIcon(siteIcon(phase)); // reuses the element: focus stays
      decorateSite(entry);
    }

    // A cluster's marker; `shift` moves it to the copy of the world in view.
    function clusterMarker(c, shift, count, offline, worst, bounds) {
      const label = count + ' sites, ' + offline + ' offline';
      const text = document.createElement('span');
      text.textContent = String(count);
      const marker = L.marker([c.lat, c.lon + shift], {
        icon: L.divIcon({
          className: 'cluster-marker worst-' + worst,
          html: text,
          iconSize: [CLUSTER_SIZE, CLUSTER_SIZE],
        }),
        title: label,
        alt: label,
        keyboard: true,
        riseOnHover: true,
      });
      activate(marker, () => {
        if (!bounds) {
          map.setView(marker.getLatLng(), Math.min(map.getZoom() + 2, map.getMaxZoom()));
          return;
        }
        const box = L.latLngBounds([bounds[0], bounds[1] + shift], [bounds[2], bounds[3] + shift]);
        map.fitBounds(box, { padding: [24, 24] });
      });
      marker.on('add', () => {
        const icon = marker.getElement();
        if (!icon) return;
        icon.setAttribute('data-count', String(count));
        icon.setAttribute('aria-label', label);
      });
      return marker;
    }

    function render(data) {
      const centre = map.getCenter().lng;
      const seen = new Set();
      const extent = L.latLngBounds([]);
      for (const p of Array.isArray(data.points) ? data.points : []) {
        if (!p || typeof p.name !== 'string' || !isNumber(p.lat) || !isNumber(p.lon)) continue;
        if (seen.has(p.name)) continue;
        seen.add(p.name);
        const latlng = L.latLng(p.lat, nearLon(p.lon, centre));
        const phase = safePhase(p.phase);
        const entry = points.get(p.name);
        if (entry) {
          entry.marker.setLatLng(latlng);
          setSitePhase(entry, phase);
        } else {
          addSite(p.name, phase, latlng);
        }
        extent.extend(latlng);
      }
      for (const [name, entry] of points) {
        if (!seen.has(name)) {
          pointLayer.removeLayer(entry.marker);
          points.delete(name);
        }
      }
      // A cluster that shows the same as before keeps its marker (and the keyboard focus).
      const next = new Map();
      for (const c of Array.isArray(data.clusters) ? data.clusters : []) {
        if (!c || !isNumber(c.lat) || !isNumber(c.lon) || !isNumber(c.count)) continue;
        const shift = nearLon(c.lon, centre) - c.lon;
        const count = Math.max(0, Math.floor(c.count));
        const phases = c.phases && typeof c.phases === 'object' ? c.phases : {};
        const offline = isNumber(phases.Offline) ? phases.Offline : 0;
        const worst = safePhase(c.worst);
        const ok = Array.isArray(c.bounds) && c.bounds.length === 4 && c.bounds.every(isNumber);
        const bounds = ok ? c.bounds : null;
        const key = JSON.stringify([c.lat, c.lon + shift, count, offline, worst, bounds]);
        if (next.has(key)) continue;
        let marker = clusters.get(key);
        if (marker) clusters.delete(key);
        else {
          marker = clusterMarker(c, shift, count, offline, worst, bounds);
          clusterLayer.addLayer(marker);
        }
        next.set(key, marker);
        extent.extend([c.lat, c.lon + shift]);
        if (bounds) {
          extent.extend([bounds[0], bounds[1] + shift]);
          extent.extend([bounds[2], bounds[3] + shift]);
        }
      }
      for (const marker of clusters.values()) clusterLayer.removeLayer(marker);
      clusters = next;
      if (!fitted) {
        fitted = true;
        if (extent.isValid()) {
          // Not animated: the move that follows fetches the points for the fitted view
          // and draws them, and only that drawing is announced as loaded.
          map.fitBounds(extent, { maxZoom: FIT_MAX_ZOOM, padding: [24, 24], animate: false });
          return;
        }
      }
      el.dataset.markers = String(points.size);
      el.dataset.clusters = String(clusters.size);
      el.dataset.loaded = 'true';
    }

    async function refresh() {
      if (destroyed || !pointsUrl) return;
      if (controller) controller.abort();
      const mine = (controller = new AbortController());
      const url = new URL(pointsUrl, window.location.href);
      url.searchParams.set('zoom', String(Math.round(map.getZoom())));
      url.searchParams.set('bbox', bboxParam(map.getBounds()));
      try {
        const response = await fetch(url.toString(), {
          credentials: 'same-origin',
          headers: { Accept: 'application/json' },
          signal: mine.signal,
        });
        if (!response.ok) {
          let reason = 'HTTP ' + response.status;
          try {
            const body = await response.json(); // the API's {reason, message}
            if (body && typeof body.message === 'string') reason += ': ' + body.message;
          } catch (err) {
            // not JSON: the status says enough
          }
          throw new Error(reason);
        }
        const data = await response.json();
        if (mine !== controller || destroyed) return; // a newer view asked since
        render(data && typeof data === 'object' ? data : {});
        setStatus('points', '');
      } catch (err) {
        if ((err && err.name === 'AbortError') || mine !== controller || destroyed) return;
        const reason = err && err.message ? err.message : String(err);
        setStatus('points', 'The map could not load the sites (' + reason + ').');
      }
    }

    function refetchSoon() {
      if (refetchTimer !== null) return; // one refetch for all the changes of the next 500 ms
      refetchTimer = window.setTimeout(() => {
        refetchTimer = null;
        refresh();
      }, REFETCH_DELAY_MS);
    }

    function onSitePhase(name, phase) {
      if (typeof name !== 'string') return;
      const entry = points.get(name);
      if (entry) setSitePhase(entry, safePhase(phase));
      else if (clusters.size > 0) refetchSoon(); // it may be inside a cluster
    }

    async function loadLand() {
      if (!geojsonUrl) return;
      try {
        const response = await fetch(geojsonUrl, { credentials: 'same-origin' });
        if (!response.ok) throw new Error('HTTP ' + response.status);
        const data = await response.json();
        if (destroyed) return;
        // Three copies of the world, as tiles would show: the view can be wider than one,
        // and worldCopyJump keeps its centre on the middle copy.
        for (const shift of [-360, 0, 360]) {
          const land = L.geoJSON(data, {
            interactive: false,
            style: () => ({ className: 'land', weight: 0.6 }),
            coordsToLatLng: (c) => L.latLng(c[1], c[0] + shift),
          });
          land.addTo(map);
          land.bringToBack();
        }
        setStatus('land', '');
      } catch (err) {
        if (!destroyed) setStatus('land', 'The map could not load the country outlines.');
      }
    }

    function destroy() {
      destroyed = true;
      if (controller) controller.abort();
      if (refetchTimer !== null) window.clearTimeout(refetchTimer);
      if (resizer) resizer.disconnect();
      map.remove();
    }

    const fit = fitMode !== 'auto' && fitMode !== 'world' ? parseFit(fitMode) : null;
    const size = map.getSize();
    if (fit && fit.isValid()) map.fitBounds(fit, { maxZoom: FIT_MAX_ZOOM });
    else if (size.x > 0 && size.y > 0) map.fitWorld();
    else map.setView([20, 0], 1);
    map.on('moveend', refresh);
    if (window.ResizeObserver) {
      resizer = new ResizeObserver(() => map.invalidateSize());
      resizer.observe(el);
    }
    loadLand();
    refresh();
    return { el: el, map: map, onSitePhase: onSitePhase, refresh: refresh, destroy: destroy };
  }

  // Start the map on #fleet-map, and again when htmx swaps in a new one.
  function init() {
    const el = document.getElementById('fleet-map');
    if (current && current.el !== el) {
      current.destroy();
      current = null;
    }
    if (!el || current || !window.L) return;
    current = createMap(el);
  }

  window.edgeplaneMap = {
    onSitePhase(name, phase) {
      if (current) current.onSitePhase(name, phase);
    },
    refresh() {
      if (current) current.refresh();
    },
    reload() {
      if (current) current.refresh(); // the same: the points are always fetched anew
    },
    map() {
      return current ? current.map : null; // the Leaflet map, for tests and the console
    },
  };

  function start() {
    init();
    document.body.addEventListener('site-phase', (ev) => {
      const detail = ev.detail || {};
      window.edgeplaneMap.onSitePhase(detail.name, detail.phase);
    });
    document.body.addEventListener('htmx:load', init);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
