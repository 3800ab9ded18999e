// Boots GraphiQL against the URL the page was served from, whatever prefix the function is
// mounted under (API Gateway stage, cargo lambda's /lambda-url/graphql/). Kept out of the page
// so the page's Content-Security-Policy can forbid inline scripts.
(function () {
  var url = window.location.origin + window.location.pathname;
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: GraphiQL.createFetcher({ url: url }),
      defaultEditorToolsVisibility: true,
      shouldPersistHeaders: true,
      defaultHeaders: '{\n  "Authorization": "Bearer <your partner token>"\n}',
      defaultQuery:
        '# Put your partner token in Headers below, then run.\n' +
        'query Arrivals($hotelId: ID!) {\n' +
        '  arrivals(hotelId: $hotelId) {\n' +
        '    date\n' +
        '    bookings { id confirmationNumber status guest { firstName lastName } }\n' +
        '  }\n' +
        '}\n',
    })
  );
})();
