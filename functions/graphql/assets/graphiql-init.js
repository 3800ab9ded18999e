// Boots GraphiQL against the URL the page was served from, whatever prefix the function is
// mounted under (API Gateway stage, cargo lambda's /lambda-url/graphql/). Kept out of the page
// so the page's Content-Security-Policy can forbid inline scripts.
(function () {
  // The Headers tab holds the partner token. GraphiQL keeps headers in localStorage only while
  // its flag `graphiql:shouldPersistHeaders` is true, which its settings switch ("Persist
  // headers") sets. Pages before this one set it by default, so it counts as the user's choice
  // only once this page has run in this browser (`pms:graphiql`); otherwise any stored headers
  // are removed and the flag is reset.
  // GraphiQL's history (`queries`, `favorites`) stores each run's headers whatever the flag
  // says, so every write goes through `guarded` below, which drops headers unless the flag is on.
  var FLAG = 'graphiql:shouldPersistHeaders';
  var SEEN = 'pms:graphiql';
  var HOLDING = ['graphiql:tabState', 'graphiql:queries', 'graphiql:favorites'];
  function withoutHeaders(value) {
    return JSON.stringify(JSON.parse(value), function (k, v) {
      return k === 'headers' ? null : v;
    });
  }
  function scrub(storage) {
    storage.removeItem('graphiql:headers');
    HOLDING.forEach(function (key) {
      var value = storage.getItem(key);
      if (value) {
        try {
          storage.setItem(key, withoutHeaders(value));
        } catch (e) {
          storage.removeItem(key);
        }
      }
    });
  }
  function persistHeaders(storage) {
    var asked = storage.getItem(SEEN) === '1' && storage.getItem(FLAG) === 'true';
    storage.setItem(SEEN, '1');
    if (!asked) {
      scrub(storage);
      storage.setItem(FLAG, 'false');
    }
    return asked;
  }
  // The storage GraphiQL writes through: while the flag is off (the user may switch it either
  // way at any time), nothing it stores keeps headers.
  function guarded(storage) {
    var on = function () {
      return storage.getItem(FLAG) === 'true';
    };
    return {
      getItem: function (k) {
        return storage.getItem(k);
      },
      setItem: function (k, v) {
        if (on() || k === FLAG) return storage.setItem(k, v);
        if (k === 'graphiql:headers') return undefined;
        if (HOLDING.indexOf(k) >= 0) {
          try {
            return storage.setItem(k, withoutHeaders(v));
          } catch (e) {
            return undefined;
          }
        }
        return storage.setItem(k, v);
      },
      removeItem: function (k) {
        return storage.removeItem(k);
      },
      clear: function () {
        return storage.clear();
      },
      key: function (i) {
        return storage.key(i);
      },
      get length() {
        return storage.length;
      },
    };
  }
  var persist = false;
  var store = null;
  try {
    persist = persistHeaders(window.localStorage);
    store = guarded(window.localStorage);
  } catch (e) {
    // No storage (private mode, blocked): nothing is kept either way.
  }
  var url = window.location.origin + window.location.pathname;
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: GraphiQL.createFetcher({ url: url }),
      defaultEditorToolsVisibility: true,
      shouldPersistHeaders: persist,
      storage: store || undefined,
      // The switch in GraphiQL's settings: the explicit way to keep the token across reloads.
      showPersistHeadersSettings: true,
      defaultHeaders: '{\n  "Authorization": "Bearer <your partner token>"\n}',
      defaultQuery:
        '# Put your partner token in Headers below, then run. It is not kept after you\n' +
        '# leave unless you switch on "Persist headers" in the settings (gear icon).\n' +
        'query Arrivals($hotelId: ID!) {\n' +
        '  arrivals(hotelId: $hotelId) {\n' +
        '    date\n' +
        '    bookings { id confirmationNumber status guest { firstName lastName } }\n' +
        '  }\n' +
        '}\n',
    })
  );
})();
