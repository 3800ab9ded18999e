// Boots GraphiQL against the URL the page was served from, whatever prefix the function is
// mounted under (API Gateway stage, cargo lambda's /lambda-url/graphql/). Kept out of the page
// so the page's Content-Security-Policy can forbid inline scripts.
(function () {
  // The Headers tab holds the partner token. GraphiQL keeps headers in localStorage only while
  // its flag `graphiql:shouldPersistHeaders` is true, which its settings switch ("Persist
  // headers") sets. Pages before this one set it by default, so it counts as the user's choice
  // only once this page has run in this browser (`pms:graphiql`); otherwise any stored headers
  // are removed and the flag is reset.
  var FLAG = 'graphiql:shouldPersistHeaders';
  var SEEN = 'pms:graphiql';
  function persistHeaders(storage) {
    var asked = storage.getItem(SEEN) === '1' && storage.getItem(FLAG) === 'true';
    storage.setItem(SEEN, '1');
    if (!asked) {
      storage.removeItem('graphiql:headers');
      var tabs = storage.getItem('graphiql:tabState');
      if (tabs) {
        try {
          storage.setItem(
            'graphiql:tabState',
            JSON.stringify(JSON.parse(tabs), function (k, v) {
              return k === 'headers' ? null : v;
            })
          );
        } catch (e) {
          storage.removeItem('graphiql:tabState');
        }
      }
      storage.setItem(FLAG, 'false');
    }
    return asked;
  }
  var persist = false;
  try {
    persist = persistHeaders(window.localStorage);
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
